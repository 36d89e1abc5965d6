using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Http;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.Daemon.Apply;

/// <summary>
/// A config into the daemon: its [daemon] table to the HTTP endpoint and its apps to the supervisor, with what the
/// endpoint could not do said in the reply. `nk start CONFIG`, `nk run` and the apps and table brought back from
/// state.json or dump.json all go through here, so they cannot drift apart.
/// </summary>
public sealed class ConfigApply(Supervisor supervisor, HttpEndpoint http)
{
    /// <summary>
    /// A config being loaded: the [daemon] table first (a null one, a start without a config file, leaves the endpoint
    /// as it is), then the apps; an address that cannot be served is a warning in the reply, and the apps start regardless.
    /// </summary>
    public async Task<Response> ApplyAsync(int id, IReadOnlyList<AppSpec> apps, DaemonSpec? daemon, string? configPath, bool prune, CancellationToken ct)
    {
        var warning = http.Configure(daemon);
        return WithWarning(await supervisor.ApplyAsync(id, apps, configPath, prune, ct), warning);
    }

    /// <summary>
    /// The [daemon] table kept in a saved state (named by <paramref name="file"/>), brought back after its apps unless a
    /// config loaded since is in effect; returns the warning when its address cannot be served.
    /// </summary>
    public string? RestoreDaemon(DaemonSpec? daemon, string file) => http.Restore(daemon, file);

    /// <summary>A reply with the endpoint's warning (if any) added to its message; a failure stays as it is.</summary>
    public static Response WithWarning(Response r, string? warning) =>
        warning is null || !r.Ok ? r : r with { Message = r.Message is null ? warning : $"{r.Message}; {warning}" };
}
