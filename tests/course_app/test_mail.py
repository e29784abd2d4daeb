"""Chapter 8's outbox and welcome message."""

from pathlib import Path

from course_app.mail import SENDER, Outbox, welcome_message


def test_a_delivered_message_is_one_whole_eml_file(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.open()
    outbox.open()  # idempotent, as a restart is
    path = outbox.deliver(welcome_message("Ada", "ada@example.com"))
    assert path.suffix == ".eml" and path.parent == tmp_path / "outbox"
    # Written under another name, then renamed: no partial file stays.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    [message] = outbox.messages()
    assert message["To"] == "ada@example.com" and message["From"] == SENDER
    assert message["Subject"] == "Welcome to Course App"
    assert "Hello Ada," in message.get_content()


def test_messages_come_back_oldest_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for name in ("Ada", "Grace", "Edsger"):
        outbox.deliver(welcome_message(name, f"{name.lower()}@example.com"))
    assert [m["To"] for m in outbox.messages()] == [
        "ada@example.com",
        "grace@example.com",
        "edsger@example.com",
    ]
