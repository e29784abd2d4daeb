"""Chapter 8: the welcome e-mail, written to an outbox after the response.

The outbox is a folder of `.eml` files, one message each, as a mail server's
queue would hold them: what a development setting delivers to, and what the
course reads to see what was sent. `Settings.mail_delay_seconds` stands for
the seconds a real mail server can take to accept a message; the response
to a sign-up never waits for them, because the message goes out in a
background task.
"""

import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import cast

__all__ = ["SENDER", "Outbox", "welcome_message"]

SENDER = "Course App <no-reply@example.com>"


def welcome_message(name: str, email: str) -> EmailMessage:
    """The message a new user gets: addressed to them, greeting them by name."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = email
    message["Subject"] = "Welcome to Course App"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content(
        f"Hello {name},\n\nyour account {email} is ready. Log in at /token.\n"
    )
    return message


class Outbox:
    """Messages delivered as files in `folder`, each after `delay` seconds."""

    def __init__(self, folder: Path, delay: float = 0.0) -> None:
        self.folder = Path(folder)
        self.delay = delay

    def open(self) -> None:
        """Create the folder (the app's lifespan does, at startup)."""
        self.folder.mkdir(parents=True, exist_ok=True)

    def deliver(self, message: EmailMessage) -> Path:
        """Write `message` to a new file, whole or not at all; return its path.

        Blocking (it sleeps `delay` and writes a file): a background task
        that calls it runs in the thread pool, off the event loop.
        """
        if self.delay:
            time.sleep(self.delay)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(message.as_bytes())
        # A reader never sees half a message: the rename is atomic.
        return partial.replace(self.folder / f"{name}.eml")

    def messages(self) -> list[EmailMessage]:
        """Every delivered message, oldest first."""
        paths = sorted(self.folder.glob("*.eml"))
        return [
            cast(EmailMessage, message_from_bytes(p.read_bytes(), policy=policy.SMTP))
            for p in paths
        ]
