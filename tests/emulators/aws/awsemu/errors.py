"""The one exception type every layer raises to answer an AWS error."""


class ApiError(Exception):
    """An error answer: code, message and HTTP status, as AWS sends them."""

    def __init__(self, code, message, status=400, sender=True):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


def modeled(model, shape_name, message):
    """An ApiError for one of the model's error shapes (its code and status)."""
    code, status, sender = model.error_code(shape_name)
    return ApiError(code, message, status, sender)


def not_found(code, message):
    return ApiError(code, message, 400)


def invalid(message, code="InvalidParameterValue"):
    return ApiError(code, message, 400)
