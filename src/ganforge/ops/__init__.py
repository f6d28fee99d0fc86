"""Speed machinery: drop-in forms of torch.nn layers and steps that compute the same function faster on CPU."""
