namespace NodeKeeper.Daemon.Supervision;

/// <summary>The latest /proc sample of an instance's process tree.</summary>
public sealed record InstanceMetrics(double CpuPercent, long MemoryBytes, int? OpenFiles, int? MaxOpenFiles);
