"""Voices for the phone benchmark: callers that are not the bot's voice (Piper joe at other tempos and
noise scales, five Japanese Kokoro-82M styles speaking English), and phone-line noise."""
