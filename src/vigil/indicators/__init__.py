"""Hash lists and indicators: proposal, two-organisation verification, retraction, feeds."""
