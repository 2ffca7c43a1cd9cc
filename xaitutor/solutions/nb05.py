"""Model answers to notebook 05 (VAE-latent counterfactuals)."""
import torch


def code_for_a_zero(vae2, classifier, limit: float = 2.5, steps: int = 51):
    """Read it off the latent map: find the tiles that look like a 0 and take their
    (z1, z2). The same decision by machine: decode a fine grid of the square, ask the
    classifier, and keep the code it is surest is a 0."""
    grid = torch.linspace(-limit, limit, steps)
    codes = torch.cartesian_prod(grid, grid).to(next(vae2.parameters()).device)
    with torch.no_grad():
        p_zero = classifier(vae2.decode(codes)).softmax(1)[:, 0]
    return codes[p_zero.argmax()].tolist()


code_for_a_zero.binds = "{answer}(vae2, classifier)"      # the learner's my_code is a code [z1, z2]


def decoder_changes_more():
    """Yes: the decoder redraws the whole row from its code, so many features move a
    little, where input-space search changes only what it must."""
    return "yes"
