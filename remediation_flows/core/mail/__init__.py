"""Email: render in the enterprise language, outbox, SMTP transport."""
