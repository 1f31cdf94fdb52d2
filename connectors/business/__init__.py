"""The national business registry (Cổng thông tin quốc gia về đăng ký doanh nghiệp): REST/JSON."""
