"""Wire Structs (msgspec) for every resource, with reusable `Meta`-constrained types."""
