"""Human handoff (issue 3): Oho request-agent / close-chat, LiveDesk mirror. To be built."""


def build_handoff_feature(services):
    return None
