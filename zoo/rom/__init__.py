"""Local reduced-order bases (Daniel et al., "Physics-informed cluster analysis and a priori efficiency criterion for
the construction of local reduced-order bases"): snapshot clustering by the sine dissimilarity (k-medoids) or Euclidean
k-means, POD per cluster and projection errors, an a-priori efficiency criterion, and ``rom_net``, the classifier that
picks a local basis from the problem's input."""

from zoo.functional.clustering import kmedoids, sine_dissimilarity
from zoo.rom.clustering import assign_clusters, cluster_snapshots, pairwise_dissimilarity
from zoo.rom.criterion import efficiency_criterion, expected_error, uniform_confusion
from zoo.rom.pod import local_pod, pod, projection_error
from zoo.rom.rom_net import ROMNet

__all__ = ["ROMNet", "assign_clusters", "cluster_snapshots", "efficiency_criterion", "expected_error", "kmedoids",
           "local_pod", "pairwise_dissimilarity", "pod", "projection_error", "sine_dissimilarity",
           "uniform_confusion"]
