using System.Globalization;
using System.Text;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Metrics;

/// <summary>An app and the number of instances its definition asks for (after `nk scale`, the new number).</summary>
public sealed record AppCount(string App, int Configured);

/// <summary>
/// The daemon's figures in the Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` for each family,
/// then one `name{labels} value` line per sample. A sample whose value is unknown (null) is left out.
/// </summary>
public static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private delegate double? Pick(InstanceInfo i);

    private sealed record Family(string Name, string Type, string Help, Pick Value);

    /// <summary>The per-instance families, in the order they are written.</summary>
    private static readonly Family[] InstanceFamilies =
    [
        new("nodekeeper_instance_up", "gauge", "1 when the instance is online (ready), else 0.", i => i.Ready ? 1 : 0),
        new("nodekeeper_instance_restarts_total", "counter", "Restarts of the instance since nk start.", i => i.Restarts),
        new("nodekeeper_instance_cpu_percent", "gauge", "CPU use of the instance's process tree (100 = one full core).", i => i.CpuPercent),
        new("nodekeeper_instance_memory_bytes", "gauge", "Resident memory of the instance's process tree.", i => i.MemoryBytes),
        new("nodekeeper_instance_heap_used_bytes", "gauge", "V8 heap in use.", i => i.HeapUsedBytes),
        new("nodekeeper_instance_heap_limit_bytes", "gauge", "V8 heap limit (max_old_space_size or node's default).", i => i.HeapLimitBytes),
        new("nodekeeper_instance_event_loop_lag_seconds", "gauge", "p99 event-loop delay over the last report interval.",
            i => i.EventLoopLagMs / 1000.0),
        new("nodekeeper_instance_open_files", "gauge", "Open file descriptors of the instance's process tree.", i => i.OpenFiles),
        new("nodekeeper_instance_max_open_files", "gauge", "RLIMIT_NOFILE of the instance.", i => i.MaxOpenFiles),
        new("nodekeeper_instance_uptime_seconds", "gauge", "Time since the instance's process started (0 while it is down).",
            i => i.UptimeMs / 1000.0),
    ];

    /// <summary>The whole exposition: the daemon, then every app, then every instance.</summary>
    public static string Format(IReadOnlyList<InstanceInfo> instances, IReadOnlyList<AppCount> apps, string version)
    {
        var sb = new StringBuilder(256 + 160 * (apps.Count + instances.Count * InstanceFamilies.Length));

        Header(sb, "nodekeeper_daemon_info", "gauge", "The NodeKeeper daemon; always 1, its version as a label.");
        sb.Append("nodekeeper_daemon_info{version=\"").Append(EscapeLabelValue(version)).Append("\"} 1\n");

        Header(sb, "nodekeeper_app_instances", "gauge", "Instances the app's definition asks for.");
        foreach (var a in apps) AppSample(sb, "nodekeeper_app_instances", a.App, a.Configured);

        Header(sb, "nodekeeper_app_ready_instances", "gauge", "Instances of the app that are online (ready).");
        foreach (var a in apps) AppSample(sb, "nodekeeper_app_ready_instances", a.App, instances.Count(i => i.Name == a.App && i.Ready));

        foreach (var f in InstanceFamilies)
        {
            Header(sb, f.Name, f.Type, f.Help);
            foreach (var i in instances)
            {
                if (f.Value(i) is not { } value) continue;
                InstanceLabels(sb, f.Name, i).Append("} ").Append(FormatValue(value)).Append('\n');
            }
        }
        HttpFamilies(sb, instances);
        return sb.ToString();
    }

    /// <summary>
    /// The instances' HTTP responses (counted by the preload): a counter by class, and a histogram of their durations.
    /// Both are of the instance's current process (a restart starts them again: a counter reset, as Prometheus expects).
    /// </summary>
    private static void HttpFamilies(StringBuilder sb, IReadOnlyList<InstanceInfo> instances)
    {
        Header(sb, "nodekeeper_http_requests_total", "counter",
            "HTTP responses of the instance's process by status class; class=\"incomplete\": its connection closed before the response was sent.");
        foreach (var i in instances)
        {
            if (i.Http is not { } h) continue;
            foreach (var (cls, value) in new[] { ("2xx", h.Class2xx), ("3xx", h.Class3xx), ("4xx", h.Class4xx), ("5xx", h.Class5xx), ("incomplete", h.Incomplete) })
            {
                InstanceLabels(sb, "nodekeeper_http_requests_total", i).Append(",class=\"").Append(cls).Append("\"} ")
                    .Append(FormatValue(value)).Append('\n');
            }
        }
        const string duration = "nodekeeper_http_request_duration_seconds";
        Header(sb, duration, "histogram", "Time from an HTTP request to the end of its response (completed responses).");
        foreach (var i in instances)
        {
            if (i.Http is not { Buckets: { } buckets } h || buckets.Length != HttpOutcomes.BoundsMs.Count + 1) continue;
            long cumulative = 0;
            for (var b = 0; b < buckets.Length; b++)
            {
                cumulative += buckets[b];
                var le = b < HttpOutcomes.BoundsMs.Count ? FormatValue(HttpOutcomes.BoundsMs[b] / 1000) : "+Inf";
                InstanceLabels(sb, duration + "_bucket", i).Append(",le=\"").Append(le).Append("\"} ").Append(FormatValue(cumulative)).Append('\n');
            }
            InstanceLabels(sb, duration + "_sum", i).Append("} ").Append(FormatValue(h.SumMs / 1000)).Append('\n');
            InstanceLabels(sb, duration + "_count", i).Append("} ").Append(FormatValue(cumulative)).Append('\n');
        }
    }

    private static StringBuilder InstanceLabels(StringBuilder sb, string name, InstanceInfo i) =>
        sb.Append(name).Append("{app=\"").Append(EscapeLabelValue(i.Name)).Append("\",instance=\"")
            .Append(i.Instance.ToString(CultureInfo.InvariantCulture)).Append('"');

    private static void Header(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n')
          .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void AppSample(StringBuilder sb, string name, string app, double value) =>
        sb.Append(name).Append("{app=\"").Append(EscapeLabelValue(app)).Append("\"} ").Append(FormatValue(value)).Append('\n');

    /// <summary>A label value as the format wants it: backslash, double quote and line feed escaped.</summary>
    public static string EscapeLabelValue(string value)
    {
        if (value.AsSpan().IndexOfAny("\\\"\n") < 0) return value;
        var sb = new StringBuilder(value.Length + 8);
        foreach (var c in value)
            sb.Append(c switch { '\\' => "\\\\", '"' => "\\\"", '\n' => "\\n", _ => c.ToString() });
        return sb.ToString();
    }

    /// <summary>HELP text: backslash and line feed escaped (a double quote stays as it is).</summary>
    public static string EscapeHelp(string text) => text.Replace("\\", "\\\\").Replace("\n", "\\n");

    /// <summary>A sample value: an integer without a decimal point, else the shortest round-trip form; NaN, +Inf, -Inf.</summary>
    public static string FormatValue(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsPositiveInfinity(value)) return "+Inf";
        if (double.IsNegativeInfinity(value)) return "-Inf";
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15) return ((long)value).ToString(CultureInfo.InvariantCulture);
        return value.ToString("R", CultureInfo.InvariantCulture);
    }
}
