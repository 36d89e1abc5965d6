using System.Globalization;
using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>
/// The restart policy and its limits: wait_ready, autorestart, stop_exit_codes, the timings, kill_signal,
/// max_memory_restart. Where PM2's words mean something else in NodeKeeper, PM2's meaning is kept: an instance not ready
/// within listen_timeout counts online (not_ready = "online"), restart_delay is a fixed wait before every restart
/// (fixed_restart_delay), and apps stop with SIGINT unless kill_signal says otherwise.
/// </summary>
internal static class Pm2Restarts
{
    /// <summary>PM2's listen_timeout when none is given (GRACEFUL_LISTEN_TIMEOUT in its constants.js).</summary>
    private static readonly TimeSpan Pm2ListenTimeout = TimeSpan.FromSeconds(3);
    /// <summary>PM2's kill_signal when none is given.</summary>
    private const string Pm2KillSignal = "SIGINT";

    /// <param name="hasPort">Whether the app got a port (ready = "listen" then): PM2 waits for it to listen too.</param>
    public static Mapping Map(Pm2App app, bool hasPort)
    {
        var m = new Mapping(app);
        var waitReady = Policy(m);
        Timings(m, waitReady || hasPort);
        Cron(m);
        Memory(m);
        return m;
    }

    /// <summary>cron_restart (or PM2's CLI spelling cron): the same expression; 0 or "" is PM2's "none".</summary>
    private static void Cron(Mapping m)
    {
        var (key, v) = m.First(["cron_restart", "cron"]);
        if (key is null) return;
        if (v.ValueKind == JsonValueKind.Number && v.GetRawText() == "0" || v.ValueKind == JsonValueKind.String && v.GetString() is "0" or "") return;
        if (v.ValueKind == JsonValueKind.String && CronSchedule.Validate(v.GetString()!) is null) m.Line("cron_restart", Mapping.S(v.GetString()!.Trim()));
        else m.Invalid(key, v, "a cron expression NodeKeeper reads (minute hour day month weekday, or with seconds first)");
    }

    /// <summary>wait_ready, autorestart and stop_exit_codes; whether the app waits for its ready message.</summary>
    private static bool Policy(Mapping m)
    {
        var waitReady = m.Take("wait_ready", out var ready) && ready.ValueKind == JsonValueKind.True;
        if (waitReady) m.Line("ready", Mapping.S(ReadyMode.Message.Word()));
        else if (ready.ValueKind is not (JsonValueKind.False or JsonValueKind.Undefined or JsonValueKind.True)) m.Invalid("wait_ready", ready, "true or false");

        bool never = false;
        if (m.Take("autorestart", out var auto))
        {
            if (auto.ValueKind == JsonValueKind.False) never = true;
            else if (auto.ValueKind != JsonValueKind.True) m.Invalid("autorestart", auto, "true or false");
        }
        var codes = m.Take("stop_exit_codes", out var sc) ? ExitCodes(m, sc) : null;
        if (never)
        {
            m.Line("restart", Mapping.S(RestartMode.Never.Word()));
            if (codes is not null) m.Note("stop_exit_codes", "stop_exit_codes is not mapped: autorestart is false, so no exit is restarted anyway");
        }
        else if (codes is { Count: > 0 })
        {
            m.Line("restart", Mapping.S(RestartMode.OnFailure.Word()));
            m.Line("stop_exit_codes", "[" + string.Join(", ", codes.Select(c => c.ToString(CultureInfo.InvariantCulture))) + "]");
        }
        return waitReady;
    }

    /// <summary>One exit code or an array of them; null (noted) when one is not a code from 0 to 255.</summary>
    private static List<int>? ExitCodes(Mapping m, JsonElement sc)
    {
        var codes = new List<int>();
        foreach (var item in sc.ValueKind == JsonValueKind.Array ? sc.EnumerateArray().ToList() : [sc])
        {
            if (Pm2App.Whole(item, out var c) && c is >= 0 and <= 255) codes.Add((int)c);
            else
            {
                m.Invalid("stop_exit_codes", sc, "exit codes from 0 to 255");
                return null;
            }
        }
        return codes;
    }

    /// <param name="waits">Whether the app is online only once ready (a port, or wait_ready).</param>
    private static void Timings(Mapping m, bool waits)
    {
        var listen = m.Duration("listen_timeout", positiveOr: AppDefaults.ListenTimeout);
        if (listen is not null || waits) m.Line("listen_timeout", Mapping.D(listen ?? Pm2ListenTimeout));
        if (waits) m.Line("not_ready", Mapping.S(NotReadyAction.Online.Word()));
        if (m.Duration("min_uptime") is { } minUptime) m.Line("min_uptime", Mapping.D(minUptime));
        if (m.Take("max_restarts", out var mr))
        {
            if (Pm2App.Whole(mr, out var n) && n is >= 0 and <= 1_000_000) m.Line("max_restarts", n.ToString(CultureInfo.InvariantCulture));
            else m.Invalid("max_restarts", mr, "a whole number from 0 to 1000000");
        }
        var exp = m.Duration("exp_backoff_restart_delay");
        var fixedDelay = m.Duration("restart_delay");
        var maxDelay = Duration.Format(AppDefaults.MaxRestartDelay);
        TimeSpan? delay;
        if (exp is { } e && e > TimeSpan.Zero)
        {
            delay = e;
            m.Note("exp_backoff_restart_delay", $"exp_backoff_restart_delay is written as restart_delay: NodeKeeper always backs off exponentially, doubling restart_delay after each unstable run up to max_restart_delay ({maxDelay})");
            if (fixedDelay is not null) m.Note("restart_delay", "restart_delay is not mapped: exp_backoff_restart_delay is used as restart_delay");
        }
        else
        {
            delay = null;
            if (fixedDelay is { } f && f > TimeSpan.Zero) m.Line("fixed_restart_delay", Mapping.D(f));
        }
        if (delay is { } d)
        {
            m.Line("restart_delay", Mapping.D(d));
            if (d > AppDefaults.MaxRestartDelay)
            {
                m.Line("max_restart_delay", Mapping.D(d));
                m.Note("exp_backoff_restart_delay", $"max_restart_delay is set to {Duration.Format(d)} too: restart_delay may not exceed it ({maxDelay} by default)");
            }
        }
        if (m.Duration("kill_timeout") is { } kill) m.Line("kill_timeout", Mapping.D(kill));
        KillSignal(m);
    }

    /// <summary>kill_signal as given, else PM2's SIGINT: apps written for PM2 shut down gracefully on it.</summary>
    private static void KillSignal(Mapping m)
    {
        var signal = Pm2KillSignal;
        if (m.Take("kill_signal", out var v))
        {
            if (v.ValueKind == JsonValueKind.String && Signals.Normalize(v.GetString()!) is { } given) signal = given;
            else m.Invalid("kill_signal", v, $"a signal name such as \"SIGTERM\" (PM2's {Pm2KillSignal} is written)");
        }
        m.Line("kill_signal", Mapping.S(signal));
    }

    private static void Memory(Mapping m)
    {
        if (!m.Take("max_memory_restart", out var v)) return;
        long bytes = 0;
        bool ok = v.ValueKind switch
        {
            JsonValueKind.Number => Pm2App.Whole(v, out bytes),
            JsonValueKind.String when v.GetString()!.Trim() is { Length: > 0 } s && s.All(char.IsAsciiDigit) => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out bytes),
            JsonValueKind.String => Size.TryParse(v.GetString()!, out bytes, out _),
            _ => false,
        };
        if (ok && bytes > 0) m.Line("max_memory", Mapping.S(Size.FormatExact(bytes)));
        else m.Invalid("max_memory_restart", v, "a size such as \"300M\", \"1G\", \"512K\" or a number of bytes");
    }
}
