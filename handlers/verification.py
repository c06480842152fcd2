"""Phone verification by SMS OTP (issue 4). To be built."""


def build_verification_feature(services):
    return None
