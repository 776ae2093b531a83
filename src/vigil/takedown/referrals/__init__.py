"""Hotline referral, INHOPE-style: a URL classified illegal whose hosting country has a partner
hotline is referred to it — a partner vigil (its ``POST /v1/referrals/in``) or a signed webhook
— which acknowledges and reports back until removal. Reasons: decision 0022."""
