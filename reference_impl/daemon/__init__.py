"""The thin I/O layer around the sans-I/O cores: sockets, a clock, nftables, a control socket.

``hmipv6-map`` and ``hmipv6-ar`` (:mod:`.map_main`, :mod:`.ar_main`) each read a YAML
configuration, feed received frames and the monotonic clock into their core, and carry out
the actions it returns.  ``hmipv6-ctl`` (:mod:`.ctl`) shows a running daemon's state.
"""
