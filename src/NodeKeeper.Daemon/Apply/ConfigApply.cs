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
public sealed class ConfigApply(Supervisor supervisor, HttpEndpoint http, DaemonContext ctx)
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

    /// <summary>
    /// `nk reload`: each app's definition read again from the config file it came from (each file once; an app with no
    /// instance keeps the one it has), then the zero-downtime reload. A file that cannot be read or is wrong reloads
    /// nothing: the answer carries its errors, file:line:col, as `nk start` prints them.
    /// </summary>
    public async Task<Response> ReloadAsync(int id, List<AppRuntime> apps, CancellationToken ct, TimeSpan? canary = null)
    {
        var specs = new List<AppSpec>();
        foreach (var file in apps.Where(a => a.Instances.Count > 0 && a.ConfigPath is { } p && File.Exists(p)).GroupBy(a => a.ConfigPath!))
        {
            var loaded = ConfigFiles.Load(file.Key, NkHome.Logs(ctx.Home));
            if (loaded.Config is null)
                return Response.Fail(id, $"reload: {file.Key} is not a valid config, nothing was reloaded") with { ConfigErrors = loaded.Errors };
            // The environment profile chosen at nk start stays chosen.
            foreach (var a in loaded.Config.Apps)
                if (file.FirstOrDefault(d => d.Name == a.Name) is { } running)
                    specs.Add(a with { EnvProfile = running.Spec.EnvProfile is { } p && a.EnvProfiles.ContainsKey(p) ? p : null });
        }
        return await supervisor.ReloadAsync(id, apps, specs, ct, canary);
    }

    /// <summary>A reply with the endpoint's warning (if any) added to its message; a failure stays as it is.</summary>
    public static Response WithWarning(Response r, string? warning) =>
        warning is null || !r.Ok ? r : r with { Message = r.Message is null ? warning : $"{r.Message}; {warning}" };
}
