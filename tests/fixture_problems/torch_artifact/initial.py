import torch

# EVOLVE-BLOCK-START
def train(x, y, steps):
    """Gradient descent on the mean squared error; returns the weights (float32) and a bf16 copy."""
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the sandbox sees only the GPUs assigned to it
    x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
    w = torch.zeros(x.shape[1], dtype=torch.float32, device=device)
    lr = 0.05
    for _ in range(steps):
        grad = 2.0 * x.T @ (x @ w - y) / len(y)
        w = w - lr * grad
    return {"weights": w, "half": w.to(torch.bfloat16), "device": str(w.device)}
# EVOLVE-BLOCK-END
