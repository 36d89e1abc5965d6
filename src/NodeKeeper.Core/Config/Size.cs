using System.Globalization;

namespace NodeKeeper.Core.Config;

/// <summary>
/// Sizes as written in nodekeeper.toml: a number with a unit K, M, G or T (powers of 1024, as PM2),
/// optionally followed by B and in any case: <c>"512K"</c>, <c>"800M"</c>, <c>"1.5G"</c>, <c>"2gb"</c>.
/// <c>"100B"</c> means bytes. A bare number is rejected.
/// </summary>
public static class Size
{
    private const string Units = "K, M, G or T";
    private static readonly string[] UnitNames = ["B", "K", "M", "G", "T"];

    /// <summary>Parses a size in bytes; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(string s, out long bytes, out string? error)
    {
        var kind = Parse(s, out bytes, out var badUnit);
        error = UnitParseErrors.Describe(kind, s, badUnit, Units, "\"800M\"", "a size such as \"512K\", \"800M\" or \"2G\"");
        return kind == UnitParseError.None;
    }

    /// <summary>Formats bytes with the largest fitting unit and at most one decimal: "512B", "1.5K", "800M", "2G".</summary>
    public static string Format(long bytes)
    {
        if (bytes < 0) return "-" + Format(bytes == long.MinValue ? long.MaxValue : -bytes);
        if (bytes < 1024) return bytes.ToString(CultureInfo.InvariantCulture) + "B";
        int unit = 1;
        while (unit < UnitNames.Length - 1 && bytes >= Multiplier(unit + 1)) unit++;
        var value = Math.Round((decimal)bytes / Multiplier(unit), 1, MidpointRounding.AwayFromZero);
        if (value >= 1024 && unit < UnitNames.Length - 1)
        {
            unit++;
            value = Math.Round((decimal)bytes / Multiplier(unit), 1, MidpointRounding.AwayFromZero);
        }
        return value.ToString("0.#", CultureInfo.InvariantCulture) + UnitNames[unit];
    }

    /// <summary>Bytes with the largest unit that divides them exactly, so the loader reads back the same number: "300M", "1G", "1000B".</summary>
    public static string FormatExact(long bytes)
    {
        int unit = 0;
        while (unit < UnitNames.Length - 1 && bytes >= 1024 && bytes % 1024 == 0)
        {
            bytes /= 1024;
            unit++;
        }
        return bytes.ToString(CultureInfo.InvariantCulture) + UnitNames[unit];
    }

    private static long Multiplier(int unit) => 1L << (10 * unit);

    /// <summary>The parser behind <see cref="TryParse"/>, returning the kind of failure for the loader's messages.</summary>
    internal static UnitParseError Parse(string? s, out long bytes, out string? badUnit)
    {
        bytes = 0;
        badUnit = null;
        if (!Text.StartValue(s, out var text, out var negative, out var i)) return UnitParseError.Invalid;
        var number = Text.ReadNumber(text, ref i, out var numberError);
        if (numberError != UnitParseError.None) return numberError;
        while (i < text.Length && text[i] == ' ') i++;
        var unit = text[i..];
        if (unit.Length == 0) return UnitParseError.MissingUnit;
        if (!unit.All(char.IsAsciiLetter)) return UnitParseError.Invalid;

        int power = unit.ToUpperInvariant() switch
        {
            "B" => 0,
            "K" or "KB" => 1,
            "M" or "MB" => 2,
            "G" or "GB" => 3,
            "T" or "TB" => 4,
            _ => -1,
        };
        if (power < 0)
        {
            badUnit = unit;
            return UnitParseError.UnknownUnit;
        }
        if (negative && (number is null || number.Value != 0)) return UnitParseError.Negative;
        if (number is null || number.Value > long.MaxValue / (decimal)Multiplier(power)) return UnitParseError.TooLarge;
        bytes = (long)decimal.Floor(number.Value * Multiplier(power));
        return UnitParseError.None;
    }
}
