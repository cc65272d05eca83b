"""What a release says of itself: its bill of materials and the signed provenance of what it built."""
