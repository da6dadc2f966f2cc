# EVOLVE-BLOCK-START
def guess():
    unused = 0.25 * 4.0 + 1.5  # dead code: changing it changes nothing the evaluator sees
    spare = 7 - 2
    a = 1.0
    return a * 2.0
# EVOLVE-BLOCK-END


def run():
    return guess()
