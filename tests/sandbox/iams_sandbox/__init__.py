"""iAM Smart platform sandbox: a protocol-faithful simulator.

Modules, one concern each:

    codes      return codes, messages and the ProtocolError exception
    protocol   wire crypto: request signatures, CEK wrapping, envelopes
    personas   test citizens, HKID check digits, field projection, openID
    config     command line and JSON configuration
    store      thread-safe state: keys, nonces, codes, tokens, tickets,
               fault injection, request log, optional persistence
    platform   the simulated platform's behaviour (login, tokens,
               profiles, e-ME, step-up tickets and their callbacks)
    callbacks  delivery of signed, encrypted callbacks
    pages      the HTML pages a browser sees
    handlers   HTTP parsing, routing, signature and envelope checks,
               the admin API
    server     process entry point
"""
