using System.Globalization;
using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>instances, exec_mode and increment_var: how many instances, and how they share the PORT of env.</summary>
internal static class Pm2Cluster
{
    /// <param name="Count">How many instances the app has on this machine.</param>
    /// <param name="Cluster">Whether PM2 runs it in cluster mode: its instances share one port.</param>
    public sealed record Instances(Mapping Mapping, int Count, bool Cluster);

    /// <summary>The instances line ("max" or a number), and whether PM2 runs the app in cluster mode.</summary>
    public static Instances MapInstances(Pm2App app, bool nodeInterpreter)
    {
        var m = new Mapping(app);
        var (written, count) = ReadInstances(app, m);
        if (written is { } n) m.Line("instances", n == 0 ? "\"max\"" : count.ToString(CultureInfo.InvariantCulture));
        return new Instances(m, count, ExecMode(m, written, nodeInterpreter));
    }

    /// <summary>The number written (0 for "max", PM2's "CPUs minus N" below 0) and the count it stands for here.</summary>
    private static (long? Written, int Count) ReadInstances(Pm2App app, Mapping m)
    {
        var cpus = app.Options.CpuCount;
        if (!m.Take("instances", out var v)) return (null, 1);
        long n;
        if (v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Equals("max", StringComparison.OrdinalIgnoreCase)) n = 0;
        else if (v.ValueKind == JsonValueKind.String)
        {
            // PM2 reads any other string with parseInt, and what is not a number as 0: one instance per CPU.
            var text = v.GetString()!.Trim();
            var digits = System.Text.RegularExpressions.Regex.Match(text, "^[-+]?[0-9]{1,9}");
            n = digits.Success ? long.Parse(digits.Value, CultureInfo.InvariantCulture) : 0;
            if (!digits.Success)
                m.Note("instances", $"instances = {TomlText.String(text)} is written as \"max\": PM2 reads a string that is not a number as 0, one instance per CPU");
        }
        else if (!Pm2App.Whole(v, out n))
        {
            m.Invalid("instances", v, "a number or \"max\"");
            return (null, 1);
        }
        if (n == 0) return (n, cpus);
        if (n < 0)
        {
            var count = (int)Math.Clamp(cpus + n, 1, 1024);
            m.Note("instances", $"instances = {n.ToString(CultureInfo.InvariantCulture)} (CPUs minus {(-n).ToString(CultureInfo.InvariantCulture)}) is written as {count.ToString(CultureInfo.InvariantCulture)}, for the {cpus.ToString(CultureInfo.InvariantCulture)} CPUs of this machine: NodeKeeper has \"max\" but no \"max minus N\"");
            return (n, count);
        }
        if (n > 1024)
        {
            m.Note("instances", $"instances = {n.ToString(CultureInfo.InvariantCulture)} is written as 1024, NodeKeeper's largest");
            return (n, 1024);
        }
        return (n, (int)n);
    }

    /// <summary>Whether PM2 runs the app in cluster mode: exec_mode says so, or (as PM2 decides) instances is set and the interpreter is node.</summary>
    private static bool ExecMode(Mapping m, long? instances, bool nodeInterpreter)
    {
        if (m.Take("exec_mode", out var v))
        {
            var mode = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            if (mode is "cluster" or "cluster_mode")
            {
                if (nodeInterpreter) return true;
                m.Note("exec_mode", "exec_mode \"cluster\" is not mapped: cluster mode is node's, and the app is not node, so each instance runs on its own (as PM2's fork mode)");
                return false;
            }
            if (mode is "fork" or "fork_mode") return false;
            m.Invalid("exec_mode", v, "\"fork\" or \"cluster\"");
        }
        return instances is >= 1 or 0 or -1 && nodeInterpreter;
    }

    /// <param name="HasPort">Whether the app got a port line (and so ready = "listen").</param>
    public sealed record Ports(Mapping Mapping, IReadOnlyList<KeyValuePair<string, string>> Env, bool HasPort = false);

    /// <summary>
    /// Cluster mode with a numeric PORT in env: port in shared mode; increment_var = "PORT": increment mode. Either
    /// way PORT leaves env, as NodeKeeper sets it from port.
    /// </summary>
    public static Ports MapPorts(Pm2App app, IReadOnlyList<KeyValuePair<string, string>> env, Instances instances)
    {
        var m = new Mapping(app);
        var text = env.FirstOrDefault(kv => kv.Key == "PORT").Value;
        int? port = text is { Length: > 0 and <= 5 } && text.All(char.IsAsciiDigit)
            && int.Parse(text, CultureInfo.InvariantCulture) is >= 1 and <= 65535 and var p ? p : null;
        PortMode? mode = null;
        if (m.Take("increment_var", out var inc))
        {
            var variable = inc.ValueKind == JsonValueKind.String ? inc.GetString() : null;
            if (variable != "PORT")
                m.Note("increment_var", $"increment_var is not mapped: NodeKeeper increments only PORT (port_mode = \"{PortMode.Increment.Word()}\"), not {(variable is null ? Pm2App.Kind(inc) : TomlText.String(variable))}");
            else if (port is null)
                m.Note("increment_var", "increment_var is not mapped: env sets no numeric PORT to count from");
            else mode = PortMode.Increment;
        }
        if (mode is null && instances.Cluster)
        {
            if (port is not null) mode = PortMode.Shared;
            else if (instances.Count != 1)
            {
                const string Why = "env sets no numeric PORT, so the instances share no port (set port in the output if the app listens on one)";
                if (app.Has("exec_mode")) m.Note("exec_mode", $"exec_mode \"cluster\" is not mapped: {Why}");
                else m.Note("instances", $"cluster mode (PM2's for instances without exec_mode) is not mapped: {Why}");
            }
        }
        if (mode is null) return new Ports(m, env);
        m.Line("port", port!.Value.ToString(CultureInfo.InvariantCulture));
        m.Line("port_mode", Mapping.S(mode.Value.Word()));
        return new Ports(m, env.Where(kv => kv.Key != "PORT").ToList(), HasPort: true);
    }
}
