"""The errors a client can get: a status code and `{"error": "..."}`, never a traceback.

- 400: the body is not what its content type says (bad JSON, bad base64, a corrupt image, a
  multipart body that does not parse), or the request's keys are wrong;
- 404: no such route, or a model that is not served (the served ones are named);
- 405: a method the route does not take;
- 413: the body, an image's pixel count or the number of instances is over the limit;
- 415: a content type other than JSON, PNG, JPEG, octet-stream or multipart, or bytes that
  are not a PNG or JPEG image;
- 422: well-formed input that does not fit the model (wrong vector length, not an image,
  pixel values out of range, a threshold for a model that has none);
- 503: the model's replicas are unavailable (being replaced): retry;
- 500: a bug in raytrain; the message says so and the server log has the traceback.
"""

from __future__ import annotations

from typing import Any


class ServeError(Exception):
    """An HTTP error with a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


def bad_request(message: str) -> ServeError:
    return ServeError(400, message)


def unprocessable(message: str) -> ServeError:
    return ServeError(422, message)
