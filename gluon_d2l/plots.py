"""The perplexity curve as a PNG file (the seeds' Animator, headless)."""


def plot_perplexity(epochs, perplexities, path, title=None):
    """Save a perplexity-versus-epoch line plot to ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, perplexities, label='train')
    ax.set_xlabel('epoch')
    ax.set_ylabel('perplexity')
    ax.set_xlim(1, max(epochs[-1], 2))
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
