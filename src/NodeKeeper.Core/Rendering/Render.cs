using NodeKeeper.Core.Config;
using System.Text;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Rendering;

/// <summary>Human-readable views of the daemon's answers.</summary>
public static class Render
{
    public static string StatusTable(IReadOnlyList<InstanceInfo> rows, DateTimeOffset now)
    {
        if (rows.Count == 0) return "no apps (load some with: nk start nodekeeper.toml)\n";
        var header = new[] { "name", "id", "pid", "status", "restarts", "uptime", "cpu", "memory", "files", "port", "last exit" };
        var table = rows.Select(r => new[]
        {
            r.Name, r.Instance.ToString() + (r.Role is { } role ? $" ({role})" : ""), r.Pid?.ToString() ?? "-",
            r.Status + (r.BackoffMs is { } b ? $" ({Duration(b)})" : "") + (r.Warnings is { Count: > 0 } ? " !" : ""),
            r.Restarts.ToString(), r.Pid is null ? "-" : Duration(r.UptimeMs),
            r.CpuPercent is { } c ? $"{c:0.#}%" : "-",
            (r.MemoryBytes is { } m ? Bytes(m) : "-") + (r.MemoryGrowthMbPerMin is { } g ? $" +{g:0.#}MB/min" : ""),
            r.OpenFiles is { } f ? (r.MaxOpenFiles is { } mf ? $"{f}/{mf}" : f.ToString()) : "-",
            r.Port is { } port ? (r.PortMode == PortMode.Increment.Word() ? $"{port}" : $"{port} (shared)") : "-", LastExit(r.LastExit, now),
        }).ToList();
        var warnings = rows.SelectMany(r => (r.Warnings ?? []).Select(w => $"! {r.Name}:{r.Instance} {w}\n"));
        var reloads = rows.Where(r => r.Reload is not null).DistinctBy(r => r.Name).Select(r => ReloadLine(r.Name, r.Reload!, now)).OfType<string>();
        return Table(header, table) + string.Concat(warnings) + string.Concat(reloads) + NotNodeLine(rows);
    }

    /// <summary>Under the status table, the apps that are not node and what they go without (one line; empty when all are node):
    /// "not node, watched from outside (...): py, worker (python3); sh (program)".</summary>
    public static string NotNodeLine(IReadOnlyList<InstanceInfo> rows)
    {
        var groups = rows.Where(r => r.Program != AppDefaults.Interpreter).DistinctBy(r => r.Name).GroupBy(r => r.Program)
            .Select(g => $"{string.Join(", ", g.Select(r => r.Name))} ({(g.Key == Programs.None ? "program" : g.Key)})").ToList();
        return groups.Count == 0 ? "" : $"not node, {Programs.WithoutNode}: {string.Join("; ", groups)}\n";
    }

    /// <summary>An app's reload under the status table: in progress (canary, watching), or backed out; nothing when it just went through.</summary>
    public static string? ReloadLine(string app, ReloadInfo r, DateTimeOffset now)
    {
        var left = r.Until is { } until && until > now ? $", {Duration((long)(until - now).TotalMilliseconds)} left" : "";
        return r.Phase switch
        {
            "canary" => $"reload {app}: canary running beside the old instances{left}\n",
            "watching" => $"reload {app}: watching the new version{left} (it is rolled back if it does worse)\n",
            _ when r.Last is "canary_failed" or "rolled_back" or "not_ready" && r.LastAt is { } at =>
                $"reload {app}: {r.Last!.Replace('_', ' ')} {Ago(at, now)} ago: {r.LastSummary} (nk why {app})\n",
            _ => null,
        };
    }

    public static string Table(string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells)
        {
            for (var i = 0; i < cells.Length; i++)
            {
                sb.Append(i == cells.Length - 1 ? cells[i] : cells[i].PadRight(widths[i] + 2));
            }
            sb.Append('\n');
        }
        Line(header);
        foreach (var r in rows) Line(r);
        return sb.ToString();
    }

    public static string LastExit(LastExit? e, DateTimeOffset now) => e is null ? "-"
        : $"{e.Reason} ({(e.Signal is not null ? e.Signal : $"code {e.Code?.ToString() ?? "?"}")}) {Ago(e.At, now)} ago";

    public static string Describe(AppDescription d, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        void Kv(string k, object? v) { if (v is not null && v.ToString() != "") sb.Append($"{k,-14} {v}\n"); }
        Kv("name", d.Name);
        Kv("script", d.Script);
        Kv("cwd", d.Cwd);
        Kv("interpreter", Programs.Of(d.Interpreter) == ProgramKind.Node ? d.Interpreter : $"{d.Interpreter}: not node, {Programs.WithoutNode}");
        Kv("interpreter_args", d.InterpreterArgs.Count > 0 ? string.Join(' ', d.InterpreterArgs) : null);
        Kv("node_args", d.NodeArgs.Count > 0 ? string.Join(' ', d.NodeArgs) : null);
        Kv("args", d.Args.Count > 0 ? string.Join(' ', d.Args) : null);
        Kv("instances", d.Instances);
        Kv("port", d.Port is { } p ? $"{p} ({d.PortMode})" : null);
        Kv("ready", d.Ready);
        Kv("restart", d.Restart);
        Kv("max_memory", d.MaxMemory is { } mm ? Bytes(mm) : null);
        Kv("max_open_files", d.MaxOpenFiles);
        Kv("reload", d.ReloadPolicy is { } rp
            ? $"canary {Config.Duration.Format(rp.Canary)}, watch {Config.Duration.Format(rp.Watch)}, worse at {rp.MinFailed}+ failed and +{rp.MaxFailedIncrease * 100:0.##} points"
            : null);
        Kv("config", d.ConfigPath);
        Kv("env_file", d.EnvFile);
        Kv("env", d.Env.Count > 0 ? string.Join(", ", d.Env.Select(kv => kv.Value is null ? kv.Key : $"{kv.Key}={kv.Value}")) : null);
        Kv("out log", d.OutLog);
        Kv("err log", d.ErrLog);
        if (d.LogDroppedLines > 0) Kv("dropped lines", d.LogDroppedLines);
        Kv("log problem", d.LogProblem);
        sb.Append('\n').Append(StatusTable(d.InstanceList, now));
        foreach (var i in d.InstanceList.Where(i => i.HeapUsedBytes is not null))
            sb.Append($"{i.Instance}: heap {Bytes(i.HeapUsedBytes!.Value)} used, {Bytes(i.HeapTotalBytes ?? 0)} total, {Bytes(i.HeapLimitBytes ?? 0)} limit; "
                + $"event loop delay p50 {i.EventLoopP50Ms:0.##} ms, p99 {i.EventLoopLagMs:0.##} ms; {i.ActiveHandles?.ToString() ?? "?"} active handles\n");
        foreach (var i in d.InstanceList.Where(i => i.Http is not null))
            sb.Append($"{i.Instance}: http {HttpLine(i.Http!, i.RequestsPerSecond)}\n");
        if (d.Reloads.Count > 0)
        {
            sb.Append("\nreloads:\n");
            foreach (var r in d.Reloads)
                sb.Append($"{r.At.ToLocalTime():yyyy-MM-dd HH:mm:ss}  {r.Outcome.Replace('_', ' ')}: {r.Summary}\n");
        }
        if (d.Captures.Count > 0)
        {
            sb.Append("\ncaptures (Chrome DevTools opens .cpuprofile and .heapsnapshot files as they are):\n");
            sb.Append(Captures(d.Captures, summaries: false));
        }
        if (d.RecentExits.Count > 0)
        {
            sb.Append("\nrecent exits:\n");
            sb.Append(Table(["id", "at", "reason", "code", "signal", "restart in"], d.RecentExits.Select(e => new[]
            {
                e.Instance.ToString(), e.At.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fff"), e.Reason, e.Code?.ToString() ?? "-", e.Signal ?? "-",
                e.RestartDelayMs is { } ms ? Duration(ms) : "-",
            }).ToList()));
            if (d.RecentExits.FirstOrDefault(e => e.Evidence.Count > 0) is { } last)
            {
                sb.Append($"\nlast evidence ({last.Reason}{(last.Cause is null ? "" : $", {last.Cause}")}, instance {last.Instance}; nk why {d.Name} explains):\n");
                foreach (var line in last.Evidence) sb.Append($"  | {line}\n");
            }
        }
        return sb.ToString();
    }

    /// <summary>Captures, a few lines each: when, what, which instance, the files; with <paramref name="summaries"/> what each says.</summary>
    public static string Captures(IReadOnlyList<CaptureInfo> captures, bool summaries)
    {
        var sb = new StringBuilder();
        foreach (var c in captures)
        {
            var who = c.Instance >= 0 ? $"instance {c.Instance}, pid {c.Pid}" : $"pid {c.Pid}";
            sb.Append($"  {c.At.ToLocalTime():yyyy-MM-dd HH:mm:ss}  {c.Kind,-6} {who}, {Bytes(c.Bytes)}\n");
            foreach (var f in c.Files) sb.Append($"    {f}\n");
            if (c.Problem is { } problem) sb.Append($"    ! {problem}\n");
            else if (summaries) foreach (var line in c.Summary) sb.Append($"    | {line}\n");
        }
        return sb.ToString();
    }

    public static string Why(IReadOnlyList<WhyReport> reports, DateTimeOffset now)
    {
        if (reports.Count == 0) return "no apps (load some with: nk start nodekeeper.toml)\n";
        var sb = new StringBuilder();
        foreach (var r in reports)
        {
            if (sb.Length > 0) sb.Append('\n');
            sb.Append($"{r.Name}: {r.Status}\n");
            if (r.Findings.Count == 0) { sb.Append("  nothing to explain: no failed exits kept, and nothing wrong now\n"); continue; }
            foreach (var f in r.Findings)
            {
                sb.Append($"\n  {f.Reason}{(f.Cause is null ? "" : $" ({f.Cause})")}: {f.Summary}{(f.LastAt is { } at ? $", {Ago(at, now)} ago" : "")}\n");
                foreach (var e in f.Evidence) sb.Append($"    | {e}\n");
                sb.Append($"    fix: {f.Remedy}\n");
            }
        }
        return sb.ToString();
    }

    public static string Duration(long ms) => ms switch
    {
        < 1000 => $"{ms}ms",
        < 60_000 => $"{ms / 1000}s",
        < 3_600_000 => $"{ms / 60_000}m",
        < 86_400_000 => $"{ms / 3_600_000}h",
        _ => $"{ms / 86_400_000}d",
    };

    private static string Ago(DateTimeOffset at, DateTimeOffset now) => Duration(Math.Max(0, (long)(now - at).TotalMilliseconds));

    /// <summary>An instance's HTTP outcomes in one line: counts by class since its process started, rate and latency.</summary>
    public static string HttpLine(HttpOutcomes h, double? perSecond)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        var line = $"2xx {h.Class2xx}, 3xx {h.Class3xx}, 4xx {h.Class4xx}, 5xx {h.Class5xx}, incomplete {h.Incomplete}";
        if (perSecond is { } rps) line += string.Format(ci, "; {0:0.#} req/s", rps);
        if (h.P50Ms is { } p50 && h.P99Ms is { } p99) line += string.Format(ci, "; p50 {0:0.##} ms, p99 {1:0.##} ms", p50, p99);
        return line;
    }

    public static string Bytes(long b) => b switch
    {
        < 1024 * 1024 => $"{b / 1024.0:0.#}K",
        < 1024L * 1024 * 1024 => $"{b / 1024.0 / 1024:0.#}M",
        _ => $"{b / 1024.0 / 1024 / 1024:0.##}G",
    };

    /// <summary>What the operator must know of the daemon itself (an update that restarted the apps), under the status table.</summary>
    public static string DaemonNotice(string notice) => $"\nnote: {notice}\n";
}
