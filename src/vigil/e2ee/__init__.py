"""Detection options for end-to-end encrypted services, implemented so that they can be
measured on benign data (``vigil bench e2ee``) and read side by side (docs/e2ee-options.md).

* (a) server-side matching — the baseline: the server hashes everything and learns everything
  (``vigil bench e2ee`` runs it with the platform's own PDQ index and match policy);
* (b) :mod:`~vigil.e2ee.psi` — on-device matching against a list the device cannot read,
  ECDH private set intersection (``openmined.psi``);
* (c) :mod:`~vigil.e2ee.threshold` — threshold reporting in the manner of Apple's PSI:
  the matching vouchers at t, and below t only the number of opened vouchers, which synthetic
  vouchers blur but do not hide (:func:`~vigil.e2ee.threshold.count_leak` measures it;
  :mod:`~vigil.e2ee.shamir`, :mod:`~vigil.e2ee.curve`);
* :mod:`~vigil.e2ee.perceptual` — PDQ's distance matching under exact PSI, by chunks;
* :mod:`~vigil.e2ee.devicelist` — the safeguards a device applies to a list it cannot read
  (two organisations of two jurisdictions, from the Centre's log; the newest publication of
  its option; consistent, recent tree heads; fork detection by gossip is not implemented).

A plain library at the bottom layer: no web framework, no database. Every result becomes an
:class:`~vigil.matching.policy.Outcome` through the one match policy.
"""
