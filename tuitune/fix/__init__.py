"""Focus-N-Fix: find a problem region with a critic or a reward, then fix it with DRaFT-K while the rest stays."""
