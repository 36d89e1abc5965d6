using System.Text.Json;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Rendering;

namespace NodeKeeper.Cli;

/// <summary>The commands on apps: start, stop, restart, reload, scale, status, monit, why, describe, logs.</summary>
public static partial class NkCommands
{
    private static bool IsConfigArgument(string a) => File.Exists(a) || a.EndsWith(".toml", StringComparison.OrdinalIgnoreCase);

    private static async Task<int> StartAsync(string[] targets, bool prune, string? envName, bool noWait, CancellationToken ct)
    {
        var configs = targets.Where(IsConfigArgument).ToList();
        if (configs.Count > 1 || (configs.Count == 1 && targets.Length > 1))
            return await Error("start takes one config file, or app names, not both", Usage);
        if (envName is not null && !EnvProfiles.ValidName(envName))
            return await Error($"--env must name a profile, such as --env production (env_production in the config), got \"{envName}\"", Usage);

        Request request;
        if (targets.Length == 0 || configs.Count == 1)
        {
            var path = configs.Count == 1 ? configs[0] : "nodekeeper.toml";
            var loaded = LoadConfig(path);
            if (loaded is null) return Usage;
            var apps = loaded.Apps;
            if (envName is not null)
            {
                // As pm2 start --env: the apps that have the profile take it, the others keep their env.
                if (!apps.Any(a => a.EnvProfiles.ContainsKey(envName)))
                    return await Error($"--env {envName}: no app of {loaded.Path} has env_{envName}", Usage);
                apps = [.. apps.Select(a => a.EnvProfiles.ContainsKey(envName) ? a with { EnvProfile = envName } : a)];
            }
            request = new Request { Cmd = Commands.Start, Apps = apps, ConfigPath = loaded.Path, Prune = prune, Daemon = loaded.Daemon };
        }
        else if (envName is not null)
            return await Error("--env goes with a config file: nk start nodekeeper.toml --env NAME", Usage);
        else request = new Request { Cmd = Commands.Start, Names = targets };

        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, request.Waiting(!noWait), ct);
        if (r is null) return Failed;
        if (r.Message is { } message) await Console.Error.WriteLineAsync($"nk: {message}");
        return await ShowAsync(client, r, ct);
    }

    /// <summary>
    /// The end of a command that (re)starts instances: the instances that did not become ready (exit 1), or the status
    /// table, from the answer of a request sent with Waiter.Waiting (asked for only when it was sent without).
    /// </summary>
    internal static async Task<int> ShowAsync(ControlClient client, Response r, CancellationToken ct)
    {
        if (r.Failures is { Count: > 0 } failures)
        {
            await Waiter.ReportAsync(failures);
            return Failed;
        }
        var rows = r.Instances ?? (await client.SendAsync(new Request { Cmd = Commands.Status }, ct)).Instances ?? [];
        Console.Out.Write(Render.StatusTable(rows, DateTimeOffset.UtcNow));
        return Ok;
    }

    private static async Task<int> ActAsync(string verb, string[] names, bool wait, CancellationToken ct)
    {
        if (names.Length == 0) return await Error($"{verb} needs app names or all (e.g. nk {verb} all)", Usage);
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = verb, Names = names }.Waiting(wait), ct);
        if (r is null) return Failed;
        if (verb == Commands.Restart) return await ShowAsync(client, r, ct);
        if (r.Message is not null) await Console.Error.WriteLineAsync($"nk: {r.Message}");
        var status = await client.SendAsync(new Request { Cmd = Commands.Status }, ct);
        Console.Out.Write(Render.StatusTable(status.Instances ?? [], DateTimeOffset.UtcNow));
        return Ok;
    }

    /// <summary>signal, flush, reopen-logs, reset: one request, its message on stderr, and the status table for reset.</summary>
    private static async Task<int> OperateAsync(Request request, bool needsNames, bool showStatus, CancellationToken ct)
    {
        if (needsNames && request.Names is not { Count: > 0 })
            return await Error($"{request.Cmd} needs app names or all (e.g. nk {request.Cmd}{(request.Signal is { } s ? " " + s : "")} all)", Usage);
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, request, ct);
        if (r is null) return Failed;
        if (r.Message is { } message) await Console.Error.WriteLineAsync($"nk: {message}");
        if (!showStatus) return Ok;
        var status = await client.SendAsync(new Request { Cmd = Commands.Status, Names = request.Names }, ct);
        Console.Out.Write(Render.StatusTable(status.Instances ?? [], DateTimeOffset.UtcNow));
        return Ok;
    }

    private static async Task<int> ReloadAsync(string[] names, bool wait, string? canaryText, CancellationToken ct)
    {
        if (names.Length == 0) return await Error("reload needs app names or all (e.g. nk reload all)", Usage);
        long? canaryMs = null;
        if (canaryText is not null)
        {
            if (!Duration.TryParse(canaryText, out var canary, out var why))
                return await Error($"--canary: {why}", Usage);
            if (canary > TimeSpan.FromDays(1)) return await Error($"--canary must be at most a day, got \"{canaryText}\"", Usage);
            canaryMs = (long)canary.TotalMilliseconds;
        }
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        // One round trip: the daemon reads each app's definition again from the config file it came from
        // (ConfigApply.ReloadAsync); a config that is wrong is said as `nk start` says it, exit 2.
        var r = await client.SendAsync(new Request { Cmd = Commands.Reload, Names = names, Reread = true, CanaryMs = canaryMs }.Waiting(wait), ct);
        if (r.ConfigErrors is { Count: > 0 } errors)
        {
            foreach (var line in errors) await Console.Error.WriteLineAsync(line);
            return Usage;
        }
        if (!r.Ok)
        {
            await Console.Error.WriteLineAsync($"nk: {r.Error}");
            return Failed;
        }
        return await ShowAsync(client, r, ct);
    }

    private static async Task<int> RollbackAsync(string[] names, bool wait, CancellationToken ct)
    {
        if (names.Length == 0) return await Error("rollback needs app names or all (e.g. nk rollback web)", Usage);
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Rollback, Names = names }.Waiting(wait), ct);
        if (r is null) return Failed;
        return await ShowAsync(client, r, ct);
    }

    private static async Task<int> ScaleAsync(string name, int count, bool wait, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Scale, Names = [name], Count = count }.Waiting(wait), ct);
        if (r is null) return Failed;
        return await ShowAsync(client, r, ct);
    }

    private static async Task<int> StatusAsync(string[] names, bool asJson, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Status, Names = names }, ct);
        if (r is null) return Failed;
        var rows = r.Instances?.ToList() ?? [];
        Console.Out.Write(asJson ? JsonSerializer.Serialize(rows, ProtocolJson.Default.ListInstanceInfo) + "\n" : Render.StatusTable(rows, DateTimeOffset.UtcNow));
        if (r.DaemonNotice is { } notice) (asJson ? Console.Error : Console.Out).Write(Render.DaemonNotice(notice));
        return Ok;
    }

    private static async Task<int> MonitAsync(string[] names, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        return await Monit.RunAsync(client, names, ct);
    }

    private static async Task<int> WhyAsync(string[] names, bool asJson, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Why, Names = names }, ct);
        if (r is null) return Failed;
        var reports = r.Why?.ToList() ?? [];
        Console.Out.Write(asJson ? JsonSerializer.Serialize(reports, ProtocolJson.Default.ListWhyReport) + "\n" : Render.Why(reports, DateTimeOffset.UtcNow));
        return Ok;
    }

    private static async Task<int> DescribeAsync(string name, bool asJson, bool showEnv, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Describe, Names = [name], ShowEnv = showEnv }, ct);
        if (r is null) return Failed;
        if (r.App is not { } app) return await Error("describe takes exactly one app name", Failed);
        Console.Out.Write(asJson ? JsonSerializer.Serialize(app, ProtocolJson.Default.AppDescription) + "\n" : Render.Describe(app, DateTimeOffset.UtcNow));
        return Ok;
    }

    private static async Task<int> LogsAsync(string? name, int lines, bool follow, bool outOnly, bool errOnly, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        var files = new List<(string Label, string Path)>();
        using (client)
        {
            var described = await SendAsync(client, new Request { Cmd = Commands.Describe, Names = name is null ? null : [name] }, ct);
            if (described is null) return Failed;
            foreach (var a in (described.Apps ?? []).Where(a => a.InstanceList.Count > 0))
            {
                var label = name is null ? $"{a.Name} | " : "";
                if (!errOnly && a.OutLog is { } o) files.Add((label, o));
                if (!outOnly && a.ErrLog is { } e) files.Add((label, e));
            }
        }
        foreach (var (label, path) in files)
        {
            if (files.Count > 1) await Console.Error.WriteLineAsync($"==> {path} <==");
            foreach (var line in LogTail.LastLines(path, lines)) await Console.Out.WriteLineAsync(label + line);
        }
        await Console.Out.FlushAsync(ct);
        if (follow) await LogTail.FollowAsync(files, Console.Out, ct);
        return Ok;
    }
}
