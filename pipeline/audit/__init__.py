"""Which data fixed which weakness: each round's audit (cells, lineage, summary), its control arm, the
ablation experiments that attribute a change to one cell's data, and the run's HTML report."""
