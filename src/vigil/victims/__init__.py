"""Victim-led removal: a case with a random number and a PIN, hashes made on the victim's own
device, distribution through the ``victim-submitted`` list, and what happened, told back."""
