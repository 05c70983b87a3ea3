"""HTML pages a browser sees: the login approval page, the e-ME /
profile / step-up approval page, errors and an index.  Every value is
escaped; forms post back to the sandbox."""

import html

_STYLE = """
body{font-family:sans-serif;max-width:44em;margin:2em auto;color:#222}
h1{font-size:1.4em;color:#2b6e4f}.note{color:#666;font-size:.9em}
button{margin:.25em 0;padding:.5em 1em;font-size:1em;cursor:pointer}
.approve{background:#2b6e4f;color:#fff;border:0}
.deny{background:#eee;border:1px solid #999}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}
code{background:#f4f4f4;padding:0 .2em}
"""


def _e(value):
    return html.escape(str(value), quote=True)


def _page(title, body):
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            "<title>%s</title><style>%s</style></head><body>"
            "<h1>%s</h1>%s<p class=\"note\">iAM Smart sandbox: simulated "
            "platform for development and tests, not the real service.</p>"
            "</body></html>" % (_e(title), _STYLE, _e(title), body))


def _button(name, value, label, cls):
    return ("<button type=\"submit\" name=\"%s\" value=\"%s\" class=\"%s\">"
            "%s</button><br>" % (_e(name), _e(value), cls, _e(label)))


def error_page(code, text):
    return _page("Request rejected",
                 "<p>The platform rejected this request.</p>"
                 "<p>Code <code>%s</code>: %s</p>" % (_e(code), _e(text)))


def login_page(login, personas):
    buttons = "".join(_button("decision", "approve:" + p.id,
                              "Approve as " + p.label, "approve")
                      for p in personas.values())
    buttons += _button("decision", "reject", "Reject (D40001)", "deny")
    buttons += _button("decision", "cancel", "Cancel (D40000)", "deny")
    buttons += _button("decision", "timeout", "Let it time out (D40003)",
                       "deny")
    mode = ("deep link into the app (brokerPage=true)"
            if login["broker_page"] else "QR code page")
    anonymous = login.get("ticket_id") is not None
    if anonymous:
        rows = "".join("<tr><th>%s</th><td>%s</td></tr>" % (_e(k), _e(v))
                       for k, v in login["form"].items())
        what = ("sends an anonymous e-ME form-filling request (no login)."
                "</p><table><tr><th>businessID</th><td>%s</td></tr>%s"
                "<tr><th>fields</th><td>%s</td></tr></table><p>"
                "Pick the citizen who fills in the form."
                % (_e(login["business_id"]), rows,
                   _e(", ".join(login["fields"]))))
    else:
        what = "asks you to log in with iAM Smart."
    body = ("<p>Online service <code>%s</code> %s</p><p>Scope: <code>%s"
            "</code><br>Source: <code>%s</code>, language <code>%s</code>, "
            "shown as a %s.</p>"
            "<form method=\"post\" action=\"/sandbox/login/%s\">%s</form>"
            % (_e(login["client_id"]), what, _e(" ".join(login["scope"])),
               _e(login["source"]), _e(login["lang"]), _e(mode),
               _e(login["id"]), buttons))
    return _page("Fill in a form with e-ME (anonymous)" if anonymous
                 else "Log in with iAM Smart", body)


_TICKET_TITLES = {"eme": "Fill in a form with e-ME",
                  "profile": "Share your identity profile",
                  "stepup": "Confirm it is you (face recognition)"}
_TICKET_LABELS = {
    "approve": ("Agree to use", "approve"),
    "reject": ("Decline", "deny"),
    "pass": ("Face recognition passes", "approve"),
    "fail": ("Face recognition fails", "deny"),
    "cancel": ("Cancel", "deny"),
    "timeout": ("Let it time out", "deny"),
}


def ticket_page(ticket, persona, outcomes):
    rows = "".join("<tr><th>%s</th><td>%s</td></tr>" % (_e(k), _e(v))
                   for k, v in ticket.form.items())
    if ticket.fields:
        rows += "<tr><th>fields</th><td>%s</td></tr>" % _e(
            ", ".join(ticket.fields))
    buttons = "".join(_button("decision", o, _TICKET_LABELS[o][0],
                              _TICKET_LABELS[o][1]) for o in outcomes)
    body = ("<p>Online service <code>%s</code> sends a request to "
            "<strong>%s</strong>.</p><table>"
            "<tr><th>businessID</th><td>%s</td></tr>%s</table>"
            "<form method=\"post\" action=\"/approve/%s\">%s</form>"
            % (_e(ticket.client_id), _e(persona.label),
               _e(ticket.business_id), rows, _e(ticket.id), buttons))
    return _page(_TICKET_TITLES[ticket.kind], body)


def not_found_page(what):
    return _page("Not found", "<p>%s</p>" % _e(what))


def index_page(settings):
    rows = "".join("<tr><td><code>%s</code></td><td>%s</td><td>%s</td></tr>"
                   % (_e(p.id), _e(p.label), _e(p.user_type))
                   for p in settings.personas.values())
    clients = ", ".join("<code>%s</code>" % _e(c)
                        for c in settings.clients)
    body = ("<p>Registered online services: %s.</p>"
            "<table><tr><th>persona</th><th>who</th><th>userType</th></tr>"
            "%s</table><p>See tests/sandbox/README.md for the endpoints "
            "and the admin API.</p>" % (clients, rows))
    return _page("iAM Smart sandbox", body)
