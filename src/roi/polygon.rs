//! Polygons in frame pixels: whether a point lies inside, the rectangle around one, and
//! whether one crosses itself. Pure arithmetic, tested exactly.

use crate::geometry::BoundingBox;

/// A closed polygon: the last point joins the first.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    pub points: Vec<(f32, f32)>,
}

impl Polygon {
    pub fn new(points: Vec<(f32, f32)>) -> Self {
        Self { points }
    }

    /// Whether `(x, y)` lies inside (even-odd rule: a ray to the right crosses the outline an
    /// odd number of times). A point exactly on an edge may fall either way; a plate is never
    /// judged by one pixel.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let mut inside = false;
        let n = self.points.len();
        for i in 0..n {
            let (xi, yi) = self.points[i];
            let (xj, yj) = self.points[(i + n - 1) % n];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
        }
        inside
    }

    /// The smallest axis-aligned box holding every point.
    pub fn bounds(&self) -> BoundingBox {
        let mut b = BoundingBox {
            x1: f32::INFINITY,
            y1: f32::INFINITY,
            x2: f32::NEG_INFINITY,
            y2: f32::NEG_INFINITY,
        };
        for &(x, y) in &self.points {
            b = BoundingBox { x1: b.x1.min(x), y1: b.y1.min(y), x2: b.x2.max(x), y2: b.y2.max(y) };
        }
        b
    }

    /// The area enclosed (shoelace formula), whichever way round the points go.
    pub fn area(&self) -> f32 {
        let n = self.points.len();
        let twice: f32 = (0..n)
            .map(|i| {
                let ((x1, y1), (x2, y2)) = (self.points[i], self.points[(i + 1) % n]);
                x1 * y2 - x2 * y1
            })
            .sum();
        twice.abs() / 2.0
    }

    /// Whether two edges that do not share a corner cross or touch: such a polygon (a bow tie,
    /// points given out of order) holds some of the lane twice and leaves some out.
    pub fn crosses_itself(&self) -> bool {
        let n = self.points.len();
        let edge = |i: usize| (self.points[i], self.points[(i + 1) % n]);
        (0..n).any(|i| {
            ((i + 2)..n)
                // The first and the last edge share the first point.
                .filter(|&j| !(i == 0 && j == n - 1))
                .any(|j| {
                    let ((a, b), (c, d)) = (edge(i), edge(j));
                    segments_meet(a, b, c, d)
                })
        })
    }

    /// The polygon with every point multiplied by `(sx, sy)`: fractions of a frame to its pixels.
    pub fn scaled(&self, sx: f32, sy: f32) -> Polygon {
        Polygon::new(self.points.iter().map(|&(x, y)| (x * sx, y * sy)).collect())
    }
}

/// Twice the signed area of the triangle `a b c`: its sign says on which side of `a b` `c` is.
fn orientation(a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> f32 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

fn on_segment(a: (f32, f32), b: (f32, f32), p: (f32, f32)) -> bool {
    p.0 >= a.0.min(b.0) && p.0 <= a.0.max(b.0) && p.1 >= a.1.min(b.1) && p.1 <= a.1.max(b.1)
}

/// Whether segments `a b` and `c d` have a point in common.
fn segments_meet(a: (f32, f32), b: (f32, f32), c: (f32, f32), d: (f32, f32)) -> bool {
    let (d1, d2) = (orientation(c, d, a), orientation(c, d, b));
    let (d3, d4) = (orientation(a, b, c), orientation(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::new(vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)])
    }

    /// A lane seen in perspective: wide at the bottom of the frame, narrow at the top.
    fn lane() -> Polygon {
        Polygon::new(vec![(40.0, 0.0), (60.0, 0.0), (100.0, 100.0), (0.0, 100.0)])
    }

    #[test]
    fn points_inside_and_outside_a_square() {
        let s = square();
        assert!(s.contains(5.0, 5.0));
        assert!(s.contains(0.5, 9.5));
        assert!(!s.contains(-1.0, 5.0));
        assert!(!s.contains(5.0, 10.5));
        assert!(!s.contains(50.0, 50.0));
    }

    #[test]
    fn a_trapezium_excludes_the_corners_of_its_bounding_box() {
        let l = lane();
        assert!(l.contains(50.0, 5.0));
        assert!(!l.contains(5.0, 5.0), "top left corner of the box, outside the lane");
        assert!(l.contains(5.0, 95.0));
        assert_eq!(l.bounds(), BoundingBox { x1: 0.0, y1: 0.0, x2: 100.0, y2: 100.0 });
        assert_eq!(l.area(), 6000.0);
        assert_eq!(square().area(), 100.0);
    }

    #[test]
    fn a_concave_polygon_excludes_its_notch() {
        // A U: the notch between the arms is outside.
        let u = Polygon::new(vec![
            (0.0, 0.0),
            (3.0, 0.0),
            (3.0, 6.0),
            (7.0, 6.0),
            (7.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
        ]);
        assert!(!u.contains(5.0, 3.0));
        assert!(u.contains(1.0, 3.0) && u.contains(9.0, 3.0) && u.contains(5.0, 8.0));
        assert!(!u.crosses_itself());
    }

    #[test]
    fn a_bow_tie_crosses_itself_and_a_plain_polygon_does_not() {
        let bow = Polygon::new(vec![(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)]);
        assert!(bow.crosses_itself());
        assert!(!square().crosses_itself());
        assert!(!lane().crosses_itself());
        let triangle = Polygon::new(vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]);
        assert!(!triangle.crosses_itself());
        // A point that comes back onto an earlier edge touches it.
        let touching =
            Polygon::new(vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 0.0), (0.0, 10.0)]);
        assert!(touching.crosses_itself());
    }

    #[test]
    fn fractions_scale_to_the_pixels_of_a_frame() {
        let f = Polygon::new(vec![(0.25, 0.5), (1.0, 0.5), (1.0, 1.0)]);
        let p = f.scaled(1920.0, 1080.0);
        assert_eq!(p.points, [(480.0, 540.0), (1920.0, 540.0), (1920.0, 1080.0)]);
        assert_eq!(p.bounds(), BoundingBox { x1: 480.0, y1: 540.0, x2: 1920.0, y2: 1080.0 });
    }
}
