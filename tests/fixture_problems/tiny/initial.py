# EVOLVE-BLOCK-START
def guess():
    a = 1.0
    b = 0.5
    return a * b + 0.25
# EVOLVE-BLOCK-END


def run():
    return guess()
