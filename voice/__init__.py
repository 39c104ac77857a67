"""The phone channel: audio, voice activity, speech to text and text to speech for Twilio calls."""
