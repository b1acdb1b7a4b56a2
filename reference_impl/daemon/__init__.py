"""The thin I/O layer around the sans-I/O cores: sockets, a clock, nftables, a control socket.

``hmipv6-map``, ``hmipv6-ar``, ``hmipv6-mn``, ``hmipv6-ha`` and ``hmipv6-cn`` (:mod:`.map_main`, :mod:`.ar_main`,
:mod:`.mn_main`, :mod:`.ha_main`, :mod:`.cn_main`) each read a YAML configuration, feed received frames and the
monotonic clock into their core, and carry out the actions it returns.  ``hmipv6-ctl`` (:mod:`.ctl`) shows a
running daemon's state and sends it commands.
"""
