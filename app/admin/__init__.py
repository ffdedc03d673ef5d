"""The staff admin interface at /admin/."""

from app.admin.site import mount_admin

__all__ = ["mount_admin"]
