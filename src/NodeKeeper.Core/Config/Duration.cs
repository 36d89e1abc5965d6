using System.Globalization;

namespace NodeKeeper.Core.Config;

/// <summary>Why a duration or size string was rejected.</summary>
internal enum UnitParseError { None, Invalid, MissingUnit, UnknownUnit, Negative, TooLarge }

/// <summary>The words for a duration or size that did not parse, shared by both.</summary>
internal static class UnitParseErrors
{
    public static string? Describe(UnitParseError kind, string? s, string? badUnit, string units, string withUnit, string example)
    {
        var q = Text.Quote(s ?? "");
        return kind switch
        {
            UnitParseError.None => null,
            UnitParseError.MissingUnit => $"{q} needs a unit, such as {withUnit} ({units})",
            UnitParseError.UnknownUnit => $"{q} has an unknown unit {Text.Quote(badUnit ?? "")} (use {units})",
            UnitParseError.Negative => $"{q} is negative",
            UnitParseError.TooLarge => $"{q} is too large",
            _ => $"{q} is not {example}",
        };
    }
}

/// <summary>
/// Durations as written in nodekeeper.toml: a number with a unit, <c>"250ms"</c>, <c>"5s"</c>,
/// <c>"1.5s"</c>, <c>"2m"</c>, <c>"1h"</c>, <c>"1d"</c>, or a sequence of them (<c>"1h30m"</c>).
/// A bare number is rejected so that nobody has to guess whether 5 means seconds or milliseconds.
/// </summary>
public static class Duration
{
    private const string Units = "ms, s, m, h or d";

    /// <summary>Parses a duration; on failure <paramref name="error"/> says why, in words a user can act on.</summary>
    public static bool TryParse(string s, out TimeSpan value, out string? error)
    {
        var kind = Parse(s, out value, out var badUnit);
        error = UnitParseErrors.Describe(kind, s, badUnit, Units, "\"5s\"", "a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\"");
        return kind == UnitParseError.None;
    }

    /// <summary>Formats a duration in the shortest form <see cref="TryParse"/> reads back: "250ms", "5s", "1.5s", "2m", "1h", "1d".</summary>
    public static string Format(TimeSpan t)
    {
        long ticks = t.Ticks;
        if (ticks == 0) return "0s";
        if (ticks < 0) return "-" + Format(TimeSpan.FromTicks(ticks == long.MinValue ? long.MaxValue : -ticks));
        if (ticks % TimeSpan.TicksPerDay == 0) return Whole(ticks / TimeSpan.TicksPerDay, "d");
        if (ticks % TimeSpan.TicksPerHour == 0) return Whole(ticks / TimeSpan.TicksPerHour, "h");
        if (ticks % TimeSpan.TicksPerMinute == 0) return Whole(ticks / TimeSpan.TicksPerMinute, "m");
        if (ticks % TimeSpan.TicksPerSecond == 0) return Whole(ticks / TimeSpan.TicksPerSecond, "s");
        if (ticks < TimeSpan.TicksPerSecond)
            return ((decimal)ticks / TimeSpan.TicksPerMillisecond).ToString("0.####", CultureInfo.InvariantCulture) + "ms";
        return ((decimal)ticks / TimeSpan.TicksPerSecond).ToString("0.#######", CultureInfo.InvariantCulture) + "s";

        static string Whole(long n, string unit) => n.ToString(CultureInfo.InvariantCulture) + unit;
    }

    /// <summary>The parser behind <see cref="TryParse"/>, returning the kind of failure for the loader's messages.</summary>
    internal static UnitParseError Parse(string? s, out TimeSpan value, out string? badUnit)
    {
        value = TimeSpan.Zero;
        badUnit = null;
        if (!Text.StartValue(s, out var text, out var negative, out var i)) return UnitParseError.Invalid;
        if (i >= text.Length) return UnitParseError.Invalid;

        decimal totalTicks = 0;
        bool tooLarge = false;
        while (i < text.Length)
        {
            var number = Text.ReadNumber(text, ref i, out var numberError);
            if (numberError != UnitParseError.None) return numberError;
            while (i < text.Length && text[i] == ' ') i++;
            int unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i])) i++;
            var unit = text[unitStart..i].ToLowerInvariant();
            while (i < text.Length && text[i] == ' ') i++;
            if (unit.Length == 0)
            {
                if (i < text.Length) return UnitParseError.Invalid;
                return UnitParseError.MissingUnit;
            }
            long perUnit = unit switch
            {
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                "d" => TimeSpan.TicksPerDay,
                _ => 0,
            };
            if (perUnit == 0)
            {
                badUnit = text[unitStart..(unitStart + unit.Length)];
                return UnitParseError.UnknownUnit;
            }
            if (number is null) { tooLarge = true; continue; }
            // Largest number is under 8e28 and TimeSpan.MaxValue is ~9.2e18 ticks: check before multiplying.
            if (number.Value > TimeSpan.MaxValue.Ticks / (decimal)perUnit) { tooLarge = true; continue; }
            totalTicks += number.Value * perUnit;
            if (totalTicks > TimeSpan.MaxValue.Ticks) tooLarge = true;
        }
        if (negative && (tooLarge || totalTicks != 0)) return UnitParseError.Negative;
        if (tooLarge) return UnitParseError.TooLarge;
        var ticks = (long)Math.Round(totalTicks, MidpointRounding.AwayFromZero);
        value = TimeSpan.FromTicks(ticks);
        return UnitParseError.None;
    }
}
