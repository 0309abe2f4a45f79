#!/usr/bin/env python3
"""Writes drive.nmea: a short recorded drive for the gpsd tests (run once; the log is kept).

One fix a second, each a GGA + GSA + GSV + RMC cycle with valid checksums, as a receiver sends
them (8 satellites, all used, HDOP 0.9):
  10:00:00-14  eastbound (course 090) at 15 m/s from 50.8466 N 4.3528 E
  10:00:15-19  standing still
  10:00:20-24  northbound (course 000) at 10 m/s
  10:00:25-29  fix lost (RMC status V, GGA quality 0, GSA mode 1), as in a tunnel
The tests read the positions and speeds back from this file's RMC sentences.
"""
import math
import pathlib

KNOTS_PER_MPS = 1 / 0.514444
M_PER_DEG_LAT = 111_320.0


def sentence(body):
    """The sentence with its checksum (XOR of the bytes between $ and *) and CR LF."""
    value = 0
    for c in body.encode("ascii"):
        value ^= c
    return f"${body}*{value:02X}\r\n"


def lat_field(lat):
    deg = int(abs(lat))
    return f"{deg:02d}{(abs(lat) - deg) * 60:08.5f}", "N" if lat >= 0 else "S"


def lon_field(lon):
    deg = int(abs(lon))
    return f"{deg:03d}{(abs(lon) - deg) * 60:08.5f}", "E" if lon >= 0 else "W"


def main():
    lat, lon = 50.8466, 4.3528
    lines = []
    satellites = [(2, 45, 100, 40), (5, 30, 200, 38), (9, 60, 50, 44), (12, 15, 300, 33),
                  (15, 70, 150, 45), (18, 25, 250, 36), (21, 40, 20, 41), (25, 10, 330, 30)]
    gsv = []
    for part in range(2):
        fields = ",".join(f"{prn:02d},{el:02d},{az:03d},{snr:02d}" for prn, el, az, snr in satellites[part * 4:part * 4 + 4])
        gsv.append(sentence(f"GPGSV,2,{part + 1},08,{fields}"))
    for second in range(30):
        hhmmss = f"1000{second:02d}.00"
        if second < 15:
            speed, course = 15.0, 90.0
        elif second < 20:
            speed, course = 0.0, 90.0
        else:
            speed, course = 10.0, 0.0
        if second >= 25:
            lines.append(sentence(f"GPGGA,{hhmmss},,,,,0,00,99.99,,,,,,"))
            lines.append(sentence("GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99"))
            lines.append(sentence(f"GPRMC,{hhmmss},V,,,,,,,010626,,,N"))
            continue
        la, ns = lat_field(lat)
        lo, ew = lon_field(lon)
        lines.append(sentence(f"GPGGA,{hhmmss},{la},{ns},{lo},{ew},1,08,0.9,56.0,M,47.2,M,,"))
        lines.append(sentence("GPGSA,A,3,02,05,09,12,15,18,21,25,,,,,1.6,0.9,1.3"))
        lines.extend(gsv)
        lines.append(sentence(f"GPRMC,{hhmmss},A,{la},{ns},{lo},{ew},{speed * KNOTS_PER_MPS:.3f},{course:.1f},010626,,,A"))
        # Where the car is a second later.
        lat += speed * math.cos(math.radians(course)) / M_PER_DEG_LAT
        lon += speed * math.sin(math.radians(course)) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    pathlib.Path(__file__).with_name("drive.nmea").write_text("".join(lines), newline="")


if __name__ == "__main__":
    main()
