namespace NodeKeeper.Core.Supervision;

/// <summary>The life-cycle state of one instance, as `nk status` shows it.</summary>
public enum InstanceStatus { Starting, Online, Stopping, Stopped, Backoff, Errored }

/// <summary>Wire names of statuses.</summary>
public static class InstanceStatusNames
{
    public static string Wire(this InstanceStatus s) => s switch
    {
        InstanceStatus.Starting => "starting",
        InstanceStatus.Online => "online",
        InstanceStatus.Stopping => "stopping",
        InstanceStatus.Stopped => "stopped",
        InstanceStatus.Backoff => "backoff",
        InstanceStatus.Errored => "errored",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };
}
