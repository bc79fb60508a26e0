"""Errors a RouterOS API reply can carry. Shared by every lab layer; imports nothing."""


class RosTrap(Exception):
    """A command failed: the session answers ``!trap =message=… [=category=N]`` then ``!done``.

    Categories (RouterOS API manual): 0 missing item or command, 1 argument value failure,
    2 interrupted, 3 scripting, 4 general failure, 5 API, 6 TTY, 7 ``:return``.
    """

    def __init__(self, message, category=None):
        super().__init__(message)
        self.message = message
        self.category = category


class RosFatal(Exception):
    """The session answers ``!fatal <message>`` and the router closes the connection."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
