namespace NodeKeeper.Core.Supervision;

/// <summary>The max_memory rule: a process tree whose resident memory passed the limit is restarted gracefully.</summary>
public static class MemoryLimit
{
    /// <summary>True when an instance using <paramref name="rssBytes"/> must be restarted. Only a starting or online one:
    /// a stopping, stopped or waiting instance is already on its way out, and asking again would restart it twice.</summary>
    public static bool Passed(long? maxMemory, long rssBytes, InstanceStatus status) =>
        maxMemory is { } max && rssBytes > max && status is InstanceStatus.Online or InstanceStatus.Starting;

    /// <summary>What the sampler saw, recorded with the exit the restart causes.</summary>
    public static string Evidence(long rssBytes, long maxMemory) =>
        $"RSS {rssBytes / (1024 * 1024)} MiB passed max_memory ({maxMemory / (1024 * 1024)} MiB)";
}
