"""HMIPv6 conformance test purposes and the requirements catalog they are indexed by."""
