"""The perplexity curve as a PNG (the d2l chapter's Animator, headless)."""
import math


def perplexity_figure(epochs, perplexities, title=None):
    """A perplexity-versus-epoch line plot (a matplotlib Figure; close it with ``plt.close``).

    ``None`` (a non-finite perplexity in ``metrics.jsonl``) is drawn as a gap.
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    values = [math.nan if p is None else p for p in perplexities]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, values, label='train')
    ax.set_xlabel('epoch')
    ax.set_ylabel('perplexity')
    ax.set_xlim(1, max(epochs[-1], 2))
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def close(fig):
    from matplotlib import pyplot as plt
    plt.close(fig)
