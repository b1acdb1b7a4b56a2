"""Programs the harness starts on the nodes (``python -m harness.programs.NAME``): the flow sender/receiver and the
userspace delay line.

They run on routers and mobile devices, some slow (the virtual Wi-Fi lab's guest runs under TCG, where importing
scapy takes tens of seconds), so this package and its modules import only the standard library: nothing from
the tester, the faults library, scapy or paramiko.  ``tests/unit/harness/test_programs_light.py`` holds them to it.
"""
