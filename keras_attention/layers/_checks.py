"""Input checks shared by the layers: every error names the argument, the value and what was expected."""


def shape_str(shape):
    """Render a (possibly partially unknown) shape as ``(None, 28, 28, 6)``."""
    parts = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def is_shape(obj):
    """True for a single shape (a tuple/list of ints or None), False for a list of shapes."""
    return isinstance(obj, (tuple, list)) and all(d is None or isinstance(d, int) for d in obj)


def split_input_shapes(layer_name, input_shape, names):
    """Return ``input_shape`` as a list of ``len(names)`` shapes, or raise a ValueError that says why."""
    expected = f"a list of {len(names)} tensors [{', '.join(names)}]"
    if is_shape(input_shape) or not isinstance(input_shape, (tuple, list)):
        got = shape_str(input_shape) if is_shape(input_shape) else repr(input_shape)
        raise ValueError(f"{layer_name} expects inputs={expected}; got a single tensor of shape {got}.")
    shapes = [tuple(s) for s in input_shape]
    if len(shapes) != len(names):
        raise ValueError(
            f"{layer_name} expects inputs={expected}; got {len(shapes)} tensors of shapes "
            f"{[shape_str(s) for s in shapes]}."
        )
    return shapes


def check_choice(argument, value, choices):
    if value not in choices:
        raise ValueError(f"Argument `{argument}` must be one of {sorted(choices)}; got {value!r}.")
    return value


def check_positive_int(argument, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Argument `{argument}` must be an integer >= {minimum}; got {value!r}.")
    return value


def check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(f"Argument `{argument}` must be True or False; got {value!r}.")
    return value
