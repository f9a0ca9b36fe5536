"""What `cti COMMAND --help` says beyond the options: a description and worked examples."""

from __future__ import annotations

import argparse

#: command path -> examples (one per line, each with a comment saying what it does)
EXAMPLES: dict[str, str] = {
    "": "cti demo                                  # try it: simulated calls, console, reports\n"
    "cti serve --config /etc/cti/cti.toml      # run the server\n"
    "cti calls --limit 10                      # the last 10 calls",
    "serve": "cti serve\n"
    "cti --config /etc/cti/cti.toml serve --port 8090\n"
    "CTI_AMI_HOST=pbx.example CTI_AMI_SECRET_FILE=/etc/cti/ami.secret cti serve",
    "db": "cti db upgrade",
    "db upgrade": "cti db upgrade\n"
    "cti --database postgresql+asyncpg://cti@db/cti db upgrade   # before a rolling upgrade",
    "replay": "cti replay capture.ami                    # the calls of an AMI capture\n"
    "cti replay *.ami --json --store          # as JSON lines, and into the database",
    "calls": "cti calls                                 # the last 50 calls, newest first\n"
    "cti calls --limit 0 --since 2026-11-25T09:00:00+03:00 --json | jq .outcome\n"
    "cti --database sqlite+aiosqlite:///cti-demo.db calls --limit 5",
    "simulate": "cti simulate --list\n"
    "cti simulate --scenario answered --scenario queue_abandoned --speed 10\n"
    "cti simulate --rate 2 --duration 60 --seed 7",
    "demo": "cti demo                                  # http://127.0.0.1:8080/\n"
    "cti demo --port 8090 --rate 1\n"
    "cti demo --agi-port 4574                  # FastAGI on a port of your choice",
    "listen": "cti token create 101                      # the agent's token, once\n"
    "CTI_LISTEN_TOKEN=... cti listen --url http://cti.example:8080\n"
    "cti listen | jq -r 'select(.type==\"call.ringing\") | .pop.caller.e164'",
    "import": "cti import customers customers.csv\n"
    "cti import agents agents.csv\n"
    "cti import duty duty.csv --append",
    "import duty": "cti duty list > duty.csv && $EDITOR duty.csv && cti import duty duty.csv",
    "import customers": "cti import customers customers.csv   # ',' or ';' separated, UTF-8",
    "import orders": "cti import orders orders.csv",
    "import agents": "cti import agents agents.csv",
    "callbacks": "cti callbacks --open\ncti callbacks --overdue --owner ivanova --json",
    "missed": "cti missed --since 2026-11-25T00:00:00+03:00 --kind abandoned\n"
    "cti missed --did 74952220101 --json",
    "user": "cti user add ivanova --role agent\ncti user list\ncti user disable ivanova",
    "user add": "cti user add ivanova --role agent       # asks for the password twice\n"
    'echo "$PASSWORD" | cti user add boss --role supervisor',
    "user list": "cti user list",
    "user disable": "cti user disable ivanova",
    "token": "cti token create shop --scope read,write --name 'shop backend'\n"
    "cti token list\ncti token revoke 3",
    "token create": "cti token create 101                      # an agent's token (cti listen)\n"
    "cti token create shop --scope read,write --name 'shop backend'",
    "token list": "cti token list\ncti token list ivanova --json",
    "token revoke": "cti token revoke 3",
    "route": "cti route '8 916 123-45-67' --did 74951112233\n"
    "cti route +79161234567 --at 2026-11-25T12:30 --state ivanova=paused:lunch --json",
    "agent": "cti agent state ivanova paused:lunch\ncti agent states\ncti agent history ivanova",
    "agent state": "cti agent state ivanova paused:lunch\ncti agent state ivanova available",
    "agent states": "cti agent states --json",
    "agent history": "cti agent history ivanova --since 2026-11-25T00:00",
    "duty": "cti duty now\ncti duty list > duty.csv",
    "duty now": "cti duty now                              # or: nobody is on duty now; next: ...\n"
    "cti duty now --at 2026-11-25T13:00",
    "duty list": "cti duty list > duty.csv",
    "shifts": "cti shifts now\ncti shifts list > shifts.csv",
    "shifts now": "cti shifts now                            # who is on shift, and why not\n"
    "cti shifts now --at 2026-12-31T20:00 --json",
    "shifts list": "cti shifts list > shifts.csv && $EDITOR shifts.csv && cti import shifts shifts.csv",
    "hours": "cti hours status --did 74952220101\ncti hours list > hours.csv",
    "hours status": "cti hours status --did 74952220101       # open now? why, and when it opens\n"
    "cti hours status --did 74952220101 --at 2027-01-01T10:00 --json",
    "hours list": "cti hours list > hours.csv && $EDITOR hours.csv && cti import hours hours.csv",
    "import shifts": "cti import shifts shifts.csv             # @sales,mon-fri,09:00-18:00\n"
    "cti import shifts vacations.csv --append  # ivanova,2026-12-14..2026-12-25,off,vacation",
    "import hours": "cti import hours hours.csv               # *,mon-fri,09:00-18:00,office",
    "import holidays": "cti import holidays production-calendar-2027.ics\n"
    "cti import holidays holidays.csv --line 74952220101 --append",
    "lookup": "cti lookup '8 916 123-45-67'",
    "webhook": "cti webhook add https://crm.example/hooks/cti --events call.missed\n"
    "cti webhook list\ncti webhook deliveries 1",
    "webhook add": "cti webhook add https://crm.example/hooks/cti --events call.missed,call.answered",
    "webhook list": "cti webhook list",
    "webhook remove": "cti webhook remove 1",
    "webhook deliveries": "cti webhook deliveries 1",
    "report": "cti report                                # today\n"
    "cti report --period week --by agent\n"
    "cti report --from 2026-11-01 --to 2026-11-30 --by did --json",
}


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; the examples kept line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:\n"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_examples(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Every parser under `parser` gets a description (its one-line help, if it had none) and
    its examples after the options."""
    parser.formatter_class = _Formatter
    examples = EXAMPLES.get(path)
    if examples:
        parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples.splitlines())
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, child in action.choices.items():
            if not child.description and helps.get(name):
                text = str(helps[name])
                child.description = text[0].upper() + text[1:] + "."
            add_examples(child, f"{path} {name}".strip())
