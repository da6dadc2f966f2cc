# EVOLVE-BLOCK-START
def guess():
    a = 1.0
    b = 1.5
    return a * b + 0.5
# EVOLVE-BLOCK-END


def run():
    return guess()
